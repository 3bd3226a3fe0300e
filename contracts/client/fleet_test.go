package client

import (
	"slices"
	"testing"

	"github.com/airlockrun/airlock/contracts"
)

func TestRuntimesOf(t *testing.T) {
	infos := []contracts.ExecutorInfo{
		{ID: "a", Runtimes: []contracts.Runtime{{Language: "python", Version: "3.9.1"}, {Language: "c", Version: "13.2.0"}}},
		{ID: "b", Runtimes: []contracts.Runtime{{Language: "python", Version: "3.10.0"}, {Language: "python", Version: "3.9.1"}}},
		{ID: "c", Problem: "down", Runtimes: []contracts.Runtime{{Language: "go", Version: "1.26.0"}}},
	}
	var got []string
	for _, rt := range runtimesOf(infos, false) {
		if rt.Aliases == nil {
			t.Errorf("%s has nil aliases", rt.Language)
		}
		got = append(got, rt.Language+" "+rt.Version)
	}
	want := []string{"c 13.2.0", "python 3.10.0", "python 3.9.1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := runtimesOf(nil, false); got == nil || len(got) != 0 {
		t.Errorf("no executors: %#v, want an empty list", got)
	}
}
