package cluster

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shoaldb/shoal/core/handler"
)

// PipelineRevision is the inbound pipeline in force: routing rules and
// handler chains (core/handler's file format), as an operator set it.
// Revisions count from 1, each set adding one; an empty Source means no
// pipeline (messages wait in the queue until one is set).
type PipelineRevision struct {
	Revision int    `json:"revision"`
	Source   string `json:"source"`
}

// SetPipeline sets the inbound pipeline to source (YAML), or removes it if
// source is empty.
func SetPipeline(source []byte) Command { return Command{Op: "pipeline.set", Value: string(source)} }

// setPipeline applies pipeline.set. The file is parsed as any binary
// would parse it (handlers this binary lacks allowed), so every replica
// decides alike; the instance that proposes checks it fully first. The
// pipeline in force set again changes nothing.
func (c *Config) setPipeline(source string) error {
	if source != "" {
		if _, err := handler.ParseWith("pipeline.yaml", []byte(source), handler.Options{AllowUnknown: true}); err != nil {
			return fmt.Errorf("pipeline.set: %w", err)
		}
	}
	rev := 1
	if c.Pipeline != nil {
		if c.Pipeline.Source == source {
			// Instances given the same file all set it: one revision.
			return nil
		}
		rev = c.Pipeline.Revision + 1
	}
	c.Pipeline = &PipelineRevision{Revision: rev, Source: source}
	return nil
}

// QueueSettings are the inbound queue's limits and the leader's pace, from
// the configuration's settings (queue.*), each with a default.
type QueueSettings struct {
	MaxMessages int           // queue.max_messages: messages waiting per replicaset
	MaxBytes    int64         // queue.max_bytes: their payloads' bytes
	Window      time.Duration // queue.window: how long a message id is remembered
	MaxIDs      int           // queue.max_ids: ids remembered per replicaset, whatever their age
	Batch       int           // queue.batch: messages one leader command settles
	RetryAfter  time.Duration // queue.retry_after: what a connector is told to wait when the queue is full
}

// DefaultQueueSettings are the settings of a cluster that sets none.
var DefaultQueueSettings = QueueSettings{
	MaxMessages: 10000, MaxBytes: 64 << 20, Window: 24 * time.Hour, MaxIDs: 1 << 20,
	Batch: 64, RetryAfter: time.Second,
}

// queueSetting is one queue.* setting: how to read it into QueueSettings.
type queueSetting struct {
	name string
	set  func(*QueueSettings, string) error
}

func intSetting(lo, hi int64, dst func(*QueueSettings) *int64) func(*QueueSettings, string) error {
	return func(q *QueueSettings, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		*dst(q) = n
		return nil
	}
}

func durationSetting(lo, hi time.Duration, dst func(*QueueSettings) *time.Duration) func(*QueueSettings, string) error {
	return func(q *QueueSettings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("must be a duration from %s to %s", lo, hi)
		}
		*dst(q) = d
		return nil
	}
}

var queueSettings = []queueSetting{
	{"queue.max_messages", func(q *QueueSettings, v string) error {
		var n int64
		err := intSetting(1, 1<<30, func(*QueueSettings) *int64 { return &n })(q, v)
		q.MaxMessages = int(n)
		return err
	}},
	{"queue.max_bytes", intSetting(1, 1<<40, func(q *QueueSettings) *int64 { return &q.MaxBytes })},
	{"queue.window", durationSetting(0, 30*24*time.Hour, func(q *QueueSettings) *time.Duration { return &q.Window })},
	{"queue.max_ids", func(q *QueueSettings, v string) error {
		var n int64
		err := intSetting(1, 1<<30, func(*QueueSettings) *int64 { return &n })(q, v)
		q.MaxIDs = int(n)
		return err
	}},
	{"queue.batch", func(q *QueueSettings, v string) error {
		var n int64
		err := intSetting(1, 256, func(*QueueSettings) *int64 { return &n })(q, v)
		q.Batch = int(n)
		return err
	}},
	{"queue.retry_after", durationSetting(time.Millisecond, time.Hour, func(q *QueueSettings) *time.Duration { return &q.RetryAfter })},
}

// CheckSetting checks an operator setting as a set command applies it:
// the key must be named, and a queue.* or auth.* setting must be one
// there is, with a value in its range; other keys pass. A cluster
// bootstrapped with a setting that fails it does not form (Bootstrap), so
// an instance given one should say so before it starts.
func CheckSetting(key, value string) error {
	if key == "" {
		return fmt.Errorf("set: the setting has no name")
	}
	return checkSetting(key, value)
}

// checkQueueSetting checks a queue.* setting's value; other keys pass.
func checkQueueSetting(key, value string) error {
	for _, s := range queueSettings {
		if s.name == key {
			var q QueueSettings
			if err := s.set(&q, value); err != nil {
				return fmt.Errorf("set %s=%q: %w", key, value, err)
			}
			return nil
		}
	}
	if len(key) > 6 && key[:6] == "queue." {
		return fmt.Errorf("set: no queue setting is named %q", key)
	}
	return nil
}

// Queue reads the queue settings, defaults where unset.
func (c *Config) Queue() QueueSettings {
	q := DefaultQueueSettings
	for _, s := range queueSettings {
		if v, ok := c.Settings[s.name]; ok {
			// Values were checked when set; one that no longer reads keeps
			// the default.
			_ = s.set(&q, v)
		}
	}
	return q
}
