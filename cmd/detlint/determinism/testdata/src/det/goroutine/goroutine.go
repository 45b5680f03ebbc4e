// Package goroutine exercises the goroutine rule and where an allow applies.
package goroutine

func work() {}

func spawn() {
	go work() // want `^go statement: deterministic code runs only on its node's event loop \[goroutine\]$`
	go work() //detlint:allow goroutine pebble runs its own flushes
	go work() //detlint:allow channel lifts another rule // want `\[goroutine\]` `lifts channel, but nothing`

	//detlint:allow goroutine a marker on the line above lifts nothing // want `lifts goroutine, but nothing`
	go work() // want `\[goroutine\]`
}
