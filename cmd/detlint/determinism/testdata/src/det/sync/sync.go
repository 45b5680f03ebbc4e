// Package sync exercises the sync rule.
package sync

import (
	"sync"        // want `^import "sync": deterministic code is single-threaded and needs no synchronization \[sync\]$`
	"sync/atomic" // want `import "sync/atomic"`
)

var (
	mu sync.Mutex
	n  atomic.Int64
)
