package main

func main() {
	println(undefinedVariable)
}
