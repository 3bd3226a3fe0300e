void main () {
    print ("%s\n", undefined_variable);
}
