// Package channel exercises the channel rule.
package channel

type queue struct {
	items chan int // want `^channel type: nodes talk through env.Send and events, not channels \[channel\]$`
}

func drain(in <-chan int) { // want `channel type`
	for v := range in { // want `range over a channel`
		_ = v
	}
}

func use(q queue) {
	c := make(chan int, 1) // want `channel type`
	c <- 1                 // want `channel send`
	<-q.items              // want `channel receive`
	close(c)               // want `close of a channel`

	var done chan struct{} //detlint:allow channel handed to pebble, never read here
	_ = done
}
