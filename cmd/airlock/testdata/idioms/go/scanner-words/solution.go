package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Split(bufio.ScanWords)
	sc.Scan()
	n, _ := strconv.Atoi(sc.Text())
	sum := 0
	for i := 0; i < n && sc.Scan(); i++ {
		x, err := strconv.Atoi(sc.Text())
		if err != nil {
			panic(err)
		}
		sum += x
	}
	fmt.Println(sum)
}
