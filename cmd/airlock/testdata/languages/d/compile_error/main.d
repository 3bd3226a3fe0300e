import std.stdio;

void main()
{
    writeln(undefinedVariable);
}
