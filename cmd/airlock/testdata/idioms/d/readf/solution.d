import std.stdio;

void main()
{
    int n;
    readf(" %d", &n);
    long total = 0;
    foreach (i; 0 .. n)
    {
        long x;
        readf(" %d", &x);
        total += x;
    }
    writefln("%d", total);
}
