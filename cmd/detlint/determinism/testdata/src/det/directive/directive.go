// Package directive exercises malformed directives, which lift nothing.
package directive

func work() {}

func directives(m map[int]int) {
	go work()     /* want `^//detlint:allow goroutine needs a reason \[directive\]$` `go statement` */  //detlint:allow goroutine
	go work()     /* want `^//detlint:allow needs a rule and a reason \[directive\]$` `go statement` */ //detlint:allow
	go work()     //detlint:allow goroutines typo // want `^//detlint:allow names unknown rule "goroutines" \(rules: goroutine, channel, .*, maprange\) \[directive\]$` `go statement`
	for range m { /* want `^//detlint:unordered needs a reason \[directive\]$` `range over a map` */ //detlint:unordered
	}
	work()              //detlint:alow goroutine typo // want `^unknown directive //detlint:alow \(want //detlint:allow or //detlint:unordered\) \[directive\]$`
	work()              //detlint:allow directive cannot be lifted // want `unknown rule "directive"`
	work()              //detlint:allow goroutine nothing here starts one // want `^this directive lifts goroutine, but nothing on its line breaks that rule; remove it \[directive\]$`
	go work()           //detlint:allow channel the wrong rule // want `lifts channel, but nothing` `go statement`
	for range []int{} { //detlint:unordered stale // want `lifts maprange, but nothing`
	}
}
