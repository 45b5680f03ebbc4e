package cli

import (
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// terminal reports whether w is a terminal, and its width in columns (0
// when it cannot tell).
func terminal(w io.Writer) (width int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, true
	}
	return width, true
}

// truncate cuts s to at most width runes, ending it with an ellipsis
// when it was cut. A width of 0 or less leaves s alone.
func truncate(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	runes := []rune(s)
	return string(runes[:width-1]) + "…"
}

// statusLine is one line of progress that rewrites itself in place on a
// terminal. Lines printed through it go above the status.
type statusLine struct {
	w      io.Writer
	width  int
	text   string // what is shown, "" for nothing
	last   time.Time
	minGap time.Duration // between two redraws by setSoon
}

func newStatusLine(w io.Writer, width int) *statusLine {
	return &statusLine{w: w, width: width, minGap: 100 * time.Millisecond}
}

// set shows text in place of the previous status.
func (s *statusLine) set(text string) {
	// Keep one column free: a line that fills the terminal wraps on some.
	text = truncate(text, s.width-1)
	fmt.Fprintf(s.w, "\r%s\x1b[K", text)
	s.text = text
	s.last = time.Now()
}

// setSoon is set, unless the status was redrawn less than minGap ago.
func (s *statusLine) setSoon(text string) {
	if time.Since(s.last) >= s.minGap {
		s.set(text)
	}
}

// clear removes the status from the screen.
func (s *statusLine) clear() {
	if s.text != "" {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.text = ""
	}
}

// println prints a line above the status, which it then redraws.
func (s *statusLine) println(line string) {
	text := s.text
	s.clear()
	fmt.Fprintln(s.w, line)
	if text != "" {
		s.set(text)
	}
}

// runProgress returns a runner progress callback that, once a run has
// taken longer than after, keeps a status line with the virtual time
// reached. done clears it.
func runProgress(line *statusLine, name string, after time.Duration) (progress func(virtual, total time.Duration), done func()) {
	start := time.Now()
	progress = func(virtual, total time.Duration) {
		if time.Since(start) < after {
			return
		}
		text := fmt.Sprintf("%s: simulated %s of %s (%d%%), %s", name,
			virtual.Round(100*time.Millisecond), total.Round(100*time.Millisecond), percent(virtual, total), time.Since(start).Round(time.Second))
		if virtual >= total {
			line.set(text + "; checking")
			return
		}
		line.setSoon(text)
	}
	return progress, line.clear
}

func percent(part, whole time.Duration) int {
	if whole <= 0 {
		return 100
	}
	return int(100 * part / whole)
}
