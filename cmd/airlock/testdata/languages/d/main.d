import std.stdio;
import std.string;

void main()
{
    string word = readln().strip();
    writeln("OK ", word);
}
