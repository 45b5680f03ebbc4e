package simnet

import (
	"fmt"

	"github.com/shoaldb/shoal/core/env"
)

// Note records an event of the harness's own making in the trace, such as
// a nemesis step or a phase of a run, with source in the node field. The
// source must not be the name of a node, so that checkers reading a
// node's events never mistake a note for one.
func (w *World) Note(source env.NodeID, kind string, fields ...env.Field) {
	if _, isNode := w.byName[source]; isNode || source == "" {
		panic(fmt.Sprintf("simnet: note source %q names a node", source))
	}
	w.trace(source, kind, fields...)
}
