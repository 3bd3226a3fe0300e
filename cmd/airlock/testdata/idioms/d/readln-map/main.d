import std.stdio;
import std.algorithm;
import std.array;
import std.conv;
import std.string;

void main()
{
    int n = readln.strip.to!int;
    auto xs = readln.split.map!(to!long).array;
    writeln(xs[0 .. n].sum);
}
