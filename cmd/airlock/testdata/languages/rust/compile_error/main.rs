fn main() {
    println!("{}", undefined_variable);
}
