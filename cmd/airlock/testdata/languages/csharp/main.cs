using System;

public class Program
{
    public static void Main()
    {
        string word = Console.ReadLine().Trim();
        Console.WriteLine("OK " + word);
    }
}
