void main () {
    string word = stdin.read_line ().strip ();
    print ("OK %s\n", word);
}
