package goroutine

// Test files are not checked.
func spawnInTest() { go work() }
