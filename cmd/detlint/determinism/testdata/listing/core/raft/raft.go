package raft

import (
	"slices"
	"sync" //detlint:allow sync pebble calls the FS from its own goroutines
)

func sorted(m map[string]int) []string {
	var keys []string //detlint:unordered sorted right after
	for k := range m {
		keys = append(keys, k)
	}
	go flush() //detlint:allow goroutine pebble flushes in the background
	_ = "//detlint:allow time a string literal is no directive"
	return slices.Sorted(slices.Values(keys)) //detlint:allow time
}

func flush() { var mu sync.Mutex; mu.Lock() }
