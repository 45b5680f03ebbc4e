// Package outside is out of scope, so nothing in it is reported.
package outside

import (
	"os"
	"sync"
	"time"
)

func run(m map[int]int) {
	var mu sync.Mutex
	mu.Lock()
	go func() { _ = time.Now() }()
	for range m {
	}
	_, _ = os.Open("x") //detlint:allow
}
