package live

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/node"
)

// PipelineStatus is the inbound pipeline in force, as this node applied
// group 0's configuration.
type PipelineStatus struct {
	// Revision counts the pipelines set (0: none ever was).
	Revision int `json:"revision"`
	// Source is its YAML ("" for none: messages wait in the queues).
	Source string `json:"source"`
}

// PipelineBackend is what the pipeline endpoints need beyond Backend.
type PipelineBackend interface {
	// Pipeline is the pipeline in force.
	Pipeline(ctx context.Context) (PipelineStatus, error)
	// SetPipeline sets source (checked by the caller) as the pipeline
	// through group 0 and waits for it: the revision it became, or why it
	// was refused (ErrPipelineRefused), or unknown (ErrUnknownOutcome).
	SetPipeline(ctx context.Context, source []byte) (int, error)
}

// ErrPipelineRefused wraps the reason group 0 refused a pipeline.
var ErrPipelineRefused = errors.New("pipeline refused")

var _ PipelineBackend = (*Node)(nil)

// Pipeline reads the pipeline in force from the configuration this
// instance applied.
func (n *Node) Pipeline(ctx context.Context) (PipelineStatus, error) {
	return onEngine(ctx, n, func(eng *node.Node) PipelineStatus {
		if p := eng.Configuration().Pipeline; p != nil {
			return PipelineStatus{Revision: p.Revision, Source: p.Source}
		}
		return PipelineStatus{}
	})
}

// SetPipeline proposes source as the pipeline (cluster.SetPipeline).
func (n *Node) SetPipeline(ctx context.Context, source []byte) (int, error) {
	if err := n.decide(ctx, "pipeline", cluster.SetPipeline(source), ErrPipelineRefused, "the pipeline"); err != nil {
		return 0, err
	}
	st, err := n.Pipeline(context.WithoutCancel(ctx))
	if err != nil {
		return 0, err
	}
	return st.Revision, nil
}

// onEngine runs read on the node's event loop, where the engine may be
// read, and returns what it returned.
func onEngine[T any](ctx context.Context, n *Node, read func(*node.Node) T) (T, error) {
	var zero T
	ch := make(chan T, 1)
	posted := n.post(func() {
		eng, ok := n.eng.(*node.Node)
		if !ok || eng == nil {
			close(ch)
			return
		}
		ch <- read(eng)
	})
	if !posted {
		return zero, fmt.Errorf("%w: the instance is stopping", ErrUnavailable)
	}
	select {
	case v, ok := <-ch:
		if !ok {
			return zero, fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed)
		}
		return v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("%w: the instance is busy: %w", ErrUnavailable, ctx.Err())
	}
}
