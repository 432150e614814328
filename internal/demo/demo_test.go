package demo

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strings"
	"testing"
)

// TestDemoShort runs the whole loop in its CI size and checks its claims.
func TestDemoShort(t *testing.T) {
	var out bytes.Buffer
	rep, err := Run(context.Background(), Options{Dir: t.TempDir() + "/demo", Short: true, Out: &out})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	c := rep.Check
	if !c.Pass || c.RouterCost >= c.BestSingleCost || c.RouterQuality < 0.98*c.BestSingleQuality {
		t.Errorf("deployed router at balanced: quality %.3f cost %.6f; best single %s quality %.3f cost %.6f\n%s",
			c.RouterQuality, c.RouterCost, c.BestSingle, c.BestSingleQuality, c.BestSingleCost, out.String())
	}
	if rep.DuringFailed != 0 || rep.Before.Failed > rep.Before.Requests/50 || rep.After.Failed > rep.After.Requests/50 {
		t.Errorf("failed requests: during deploy %d, before %d, after %d", rep.DuringFailed, rep.Before.Failed, rep.After.Failed)
	}
	if rep.After.MeanCostUSD >= rep.Before.MeanCostUSD {
		t.Errorf("live cost did not fall: before %.6f after %.6f", rep.Before.MeanCostUSD, rep.After.MeanCostUSD)
	}
	if rep.ActiveAfterRollback != "v1" {
		t.Errorf("after the rollback the active version is %q, want v1", rep.ActiveAfterRollback)
	}
	if len(rep.Routers) != 3 {
		t.Errorf("routers: %+v", rep.Routers)
	}
	f, err := os.Open(rep.Plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("plot: %v", err)
	}
	if !strings.Contains(out.String(), "PASS") || !strings.Contains(out.String(), "[9/9") {
		t.Errorf("report:\n%s", out.String())
	}
}
