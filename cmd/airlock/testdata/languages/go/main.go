package main

import "fmt"

func main() {
	var word string
	fmt.Scan(&word)
	fmt.Println("OK " + word)
}
