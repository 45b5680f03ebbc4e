package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/handler"
)

func TestHandlersListsTheRegistered(t *testing.T) {
	code, out, errs := shoal(t, "handlers")
	if code != exitValid || errs != "" {
		t.Fatalf("shoal handlers: exit %d, stderr %q", code, errs)
	}
	names := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !slices.Equal(names, handler.Registered()) {
		t.Errorf("shoal handlers printed %q, want handler.Registered() %q", names, handler.Registered())
	}
	if !slices.Contains(names, "set-type") {
		t.Errorf("shoal handlers lacks the built-in set-type:\n%s", out)
	}
}
