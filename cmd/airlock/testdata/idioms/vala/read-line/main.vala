int main (string[] args) {
    int n = int.parse (stdin.read_line ().strip ());
    string[] parts = stdin.read_line ().strip ().split (" ");
    int64 sum = 0;
    for (int i = 0; i < n; i++) {
        sum += int64.parse (parts[i]);
    }
    stdout.printf ("%s\n", sum.to_string ());
    return 0;
}
