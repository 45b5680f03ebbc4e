// Package time exercises the time rule.
package time

import "time"

func clock() {
	_ = time.Now()              // want `^time.Now uses the real clock; use env.Now, or env.After to wait \[time\]$`
	_ = time.Since(time.Time{}) // want `time.Since`
	_ = time.Until(time.Time{}) // want `time.Until`
	time.Sleep(time.Second)     // want `time.Sleep`
	<-time.After(time.Second)   // want `time.After` `channel receive`
	time.AfterFunc(1, nil)      // want `time.AfterFunc`
	_ = time.Tick(1)            // want `time.Tick`
	_ = time.NewTimer(1)        // want `time.NewTimer`
	_ = time.NewTicker(1)       // want `time.NewTicker`
	now := time.Now             // want `time.Now`
	_ = now

	t := time.Unix(0, 0).Add(3 * time.Millisecond)
	_ = t.After(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	_ = time.Duration(5).String()
	_ = time.Now() //detlint:allow time stamps a log line that no trace sees
}
