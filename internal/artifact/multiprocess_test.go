package artifact

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestFileStoreConditionalPutAcrossProcesses runs create-only puts of the
// same key from several OS processes at once: the flock must make exactly
// one of them win each round, as it does for goroutines.
func TestFileStoreConditionalPutAcrossProcesses(t *testing.T) {
	if os.Getenv("SWITCHYARD_ARTIFACT_HELPER") == "1" {
		t.Skip("helper process")
	}
	const procs, rounds = 4, 3
	dir := t.TempDir()
	for round := 0; round < rounds; round++ {
		key := fmt.Sprintf("models/m/CURRENT-%d", round)
		var wg sync.WaitGroup
		results := make([]string, procs)
		for p := 0; p < procs; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperConditionalPut$", "-test.count=1")
				cmd.Env = append(os.Environ(), "SWITCHYARD_ARTIFACT_HELPER=1", "HELPER_DIR="+dir, "HELPER_KEY="+key, fmt.Sprintf("HELPER_BODY=proc-%d", p))
				out, err := cmd.CombinedOutput()
				if err != nil {
					results[p] = "error: " + err.Error() + ": " + string(out)
					return
				}
				switch {
				case strings.Contains(string(out), "RESULT=won"):
					results[p] = "won"
				case strings.Contains(string(out), "RESULT=conflict"):
					results[p] = "conflict"
				default:
					results[p] = "unexpected: " + string(out)
				}
			}()
		}
		wg.Wait()
		won := 0
		for _, r := range results {
			switch r {
			case "won":
				won++
			case "conflict":
			default:
				t.Fatalf("round %d: helper said %s", round, r)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d processes won a create-only put, want 1 (%v)", round, won, results)
		}
	}
}

// TestHelperConditionalPut is the child process of the test above.
func TestHelperConditionalPut(t *testing.T) {
	if os.Getenv("SWITCHYARD_ARTIFACT_HELPER") != "1" {
		t.Skip("only runs as a helper process")
	}
	s, err := OpenFileStore(os.Getenv("HELPER_DIR"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(context.Background(), os.Getenv("HELPER_KEY"), strings.NewReader(os.Getenv("HELPER_BODY")), PutOptions{IfNoneMatch: true})
	switch {
	case err == nil:
		fmt.Println("RESULT=won")
	case errors.Is(err, ErrConflict):
		fmt.Println("RESULT=conflict")
	default:
		t.Fatal(err)
	}
}
