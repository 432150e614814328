package testsvc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// VersityGW is a running VersityGW S3 gateway (posix backend, versioning
// configured) owned by one test.
type VersityGW struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	// DataDir is the posix backend's root: the object "k" of bucket "b" is
	// the file DataDir/b/k, which tests may tamper with.
	DataDir string
}

// StartVersityGW starts VersityGW on a free loopback port with a versioning
// directory, waits until it answers, and stops it when the test ends. The
// binary comes from SWITCHYARD_VERSITYGW, PATH or $GOPATH/bin (install with
// `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0`).
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	bin := Binary(t, "versitygw", "SWITCHYARD_VERSITYGW")
	root := t.TempDir()
	g := &VersityGW{
		AccessKey: "switchyardtest",
		SecretKey: "switchyardtestsecret",
		Region:    "us-east-1",
		DataDir:   filepath.Join(root, "data"),
	}
	versions := filepath.Join(root, "versions")
	for _, d := range []string{g.DataDir, versions} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("versitygw dirs: %v", err)
		}
	}
	logPath := filepath.Join(root, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("versitygw log: %v", err)
	}
	defer logFile.Close()

	var cmd *exec.Cmd
	var addr string
	// A free port can be taken between FreePort and the bind; try a few.
	for attempt := 0; attempt < 3; attempt++ {
		addr = Addr(FreePort(t))
		cmd = exec.Command(bin, "--port", addr, "posix", "--versioning-dir", versions, g.DataDir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.AccessKey, "ROOT_SECRET_KEY="+g.SecretKey)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(addr, exited, 15*time.Second) {
			t.Cleanup(func() { stopProcess(cmd, exited) })
			g.Endpoint = "http://" + addr
			return g
		}
		stopProcess(cmd, exited)
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("versitygw did not start on %s; log:\n%s", addr, log)
	return nil
}

func waitListening(addr string, exited <-chan error, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// stopProcess ends the process group it started: SIGTERM, then SIGKILL.
func stopProcess(cmd *exec.Cmd, exited <-chan error) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// Client returns an S3 client for the gateway (path-style, static keys).
func (g *VersityGW) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(g.Endpoint),
		Region:       g.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(g.AccessKey, g.SecretKey, ""),
	})
}

// Credentials returns the gateway's root keys as an SDK provider.
func (g *VersityGW) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(g.AccessKey, g.SecretKey, "")
}

// NewBucket creates a bucket with versioning enabled and returns its name.
// Each call makes a new bucket, so subtests stay independent.
func (g *VersityGW) NewBucket(t testing.TB) string {
	t.Helper()
	name := "sy-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := g.Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning on %s: %v", name, err)
	}
	out, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("get versioning of %s: %v", name, err)
	}
	if out.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning of %s is %q after enabling it", name, out.Status)
	}
	return name
}
