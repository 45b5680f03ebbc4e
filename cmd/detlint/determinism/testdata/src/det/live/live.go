// Package live is excluded from the scope: the production Env must use
// real goroutines, clocks and locks.
package live

import (
	"sync"
	"time"
)

func run(m map[int]int) {
	var mu sync.Mutex
	mu.Lock()
	go func() { _ = time.Now() }()
	for range m {
	}
}
