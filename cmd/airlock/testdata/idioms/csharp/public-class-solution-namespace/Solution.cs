using System;
using System.IO;

namespace Judge
{
    public class Solution
    {
        public static void Main()
        {
            var reader = new StreamReader(Console.OpenStandardInput());
            int n = Convert.ToInt32(reader.ReadLine().Trim());
            string[] parts = reader.ReadLine().Trim().Split(' ');
            long total = 0;
            for (int i = 0; i < n; i++)
            {
                total += long.Parse(parts[i]);
            }
            Console.WriteLine(total);
        }
    }
}
