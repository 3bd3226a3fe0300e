package planted

import "sync"

var registry sync.Map // want of type sync.Map

var mu sync.Mutex // want of type sync.Mutex

func fromAnotherFile() {
	limit = 4 // want assigned
}
