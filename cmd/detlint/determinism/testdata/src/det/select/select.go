// Package selects exercises the select rule.
package selects

func wait(c chan int) { // want `\[channel\]`
	select { // want `^select statement: deterministic code never waits; use env.After for timeouts \[select\]$`
	case <-c: // want `channel receive`
	default:
	}
	select { //detlint:allow select never blocks
	default:
	}
}
