use std::io::{self, BufRead, Write};

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    let n: usize = lines.next().unwrap()?.trim().parse().unwrap();
    let line = lines.next().unwrap()?;
    let sum: i64 = line
        .split_whitespace()
        .take(n)
        .map(|x| x.parse::<i64>().expect("an integer"))
        .sum();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    writeln!(out, "{}", sum)?;
    Ok(())
}
