// Package kubernetes holds no code: its test checks that the manifests in
// this folder parse and agree with each other and with the gateway and
// pipeline configs they mount, without a cluster (none is available in CI).
package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/switchyard-ai/switchyard/internal/config"
	"github.com/switchyard-ai/switchyard/internal/gateway"
	"github.com/switchyard-ai/switchyard/internal/pipeline"
)

// The parts of the Kubernetes objects the checks read; everything else is
// left to the API server's own validation.
type (
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
		Spec       spec              `yaml:"spec"`
	}
	meta struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	}
	spec struct {
		// Deployment, PodDisruptionBudget, Service
		Replicas       *int        `yaml:"replicas"`
		Selector       selector    `yaml:"selector"`
		Template       podTemplate `yaml:"template"`
		MaxUnavailable *int        `yaml:"maxUnavailable"`
		// CronJob
		Schedule          string `yaml:"schedule"`
		ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
		JobTemplate       struct {
			Spec struct {
				ActiveDeadlineSeconds int         `yaml:"activeDeadlineSeconds"`
				Template              podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	}
	// selector is a Deployment's or PDB's {matchLabels: ...}, or a
	// Service's plain label map (decoded into MatchLabels by UnmarshalYAML).
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	podTemplate struct {
		Metadata meta    `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
		Containers                    []container `yaml:"containers"`
		Volumes                       []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	kustomization struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name     string   `yaml:"name"`
			Files    []string `yaml:"files"`
			Literals []string `yaml:"literals"`
		} `yaml:"configMapGenerator"`
	}
)

func (s *selector) UnmarshalYAML(n *yaml.Node) error {
	var probe struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := n.Decode(&probe); err == nil && probe.MatchLabels != nil {
		s.MatchLabels = probe.MatchLabels
		return nil
	}
	return n.Decode(&s.MatchLabels)
}

// set is the kustomization with every resource it lists, decoded.
type set struct {
	k        kustomization
	objects  map[string]object // "Kind/name"
	literals map[string]map[string]string
	files    map[string]map[string]string // generated ConfigMap -> key -> path
}

func load(t *testing.T) *set {
	t.Helper()
	s := &set{objects: map[string]object{}, literals: map[string]map[string]string{}, files: map[string]map[string]string{}}
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := config.DecodeStrict(raw, &struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Namespace  string         `yaml:"namespace"`
		Labels     []any          `yaml:"labels"`
		Images     []any          `yaml:"images"`
		Rest       *kustomization `yaml:",inline"`
	}{Rest: &s.k}); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, r := range s.k.Resources {
		for i, o := range decodeAll(t, r) {
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: apiVersion, kind and metadata.name are required", r, i)
			}
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := s.objects[key]; dup {
				t.Fatalf("%s: %s declared twice", r, key)
			}
			s.objects[key] = o
		}
	}
	for _, g := range s.k.ConfigMapGenerator {
		s.literals[g.Name] = map[string]string{}
		s.files[g.Name] = map[string]string{}
		for _, l := range g.Literals {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Fatalf("configMapGenerator %s: literal %q is not KEY=value", g.Name, l)
			}
			s.literals[g.Name][k] = v
		}
		for _, f := range g.Files {
			k, p, ok := strings.Cut(f, "=")
			if !ok {
				k, p = filepath.Base(f), f
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("configMapGenerator %s: %v", g.Name, err)
			}
			s.files[g.Name][k] = p
		}
	}
	return s
}

func decodeAll(t *testing.T, path string) []object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("kustomization resource: %v", err)
	}
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, o)
	}
}

func (s *set) get(t *testing.T, kind, name string) object {
	t.Helper()
	o, ok := s.objects[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %q in the kustomization", kind, name)
	}
	return o
}

// env is what a container's envFrom gives it: generated ConfigMap literals
// and Secret keys. A reference to something not declared here fails.
func (s *set) env(t *testing.T, c container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			lits, ok := s.literals[ef.ConfigMapRef.Name]
			if !ok {
				t.Fatalf("container %s: envFrom ConfigMap %q is not generated", c.Name, ef.ConfigMapRef.Name)
			}
			for k, v := range lits {
				env[k] = v
			}
		case ef.SecretRef != nil:
			for k, v := range s.get(t, "Secret", ef.SecretRef.Name).StringData {
				env[k] = v
			}
		}
	}
	return env
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// withEnv makes the process environment exactly env for every variable the
// file refers to, so an unset reference is caught as it would be in the pod.
func withEnv(t *testing.T, path string, env map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		t.Setenv(m[1], "")
		if err := os.Unsetenv(m[1]); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func (s *set) gateway(t *testing.T) (object, container) {
	t.Helper()
	d := s.get(t, "Deployment", "switchyard-gateway")
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("gateway Deployment: want one container, have %d", len(d.Spec.Template.Spec.Containers))
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

func (s *set) cron(t *testing.T) (object, container) {
	t.Helper()
	c := s.get(t, "CronJob", "switchyard-pipeline")
	if len(c.Spec.JobTemplate.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("pipeline CronJob: want one container")
	}
	return c, c.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
}

// mountedConfig returns the file a container's --config flag names, found
// through its volume mount in the generated switchyard-config ConfigMap.
func (s *set) mountedConfig(t *testing.T, pod podSpec, c container) string {
	t.Helper()
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("container %s: no --config in args %v", c.Name, c.Args)
	}
	arg := c.Args[i+1]
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(arg) != vm.MountPath {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				if p, ok := s.files[v.ConfigMap.Name][filepath.Base(arg)]; ok {
					return p
				}
			}
		}
	}
	t.Fatalf("container %s: --config %s is not a file of a mounted generated ConfigMap", c.Name, arg)
	return ""
}

func TestResourcesListed(t *testing.T) {
	s := load(t)
	entries, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e != "kustomization.yaml" && !slices.Contains(s.k.Resources, e) {
			t.Errorf("%s is not in kustomization.yaml's resources: it would never be applied", e)
		}
	}
	for _, want := range []string{"Namespace/switchyard", "Deployment/switchyard-gateway", "Service/switchyard",
		"PodDisruptionBudget/switchyard-gateway", "CronJob/switchyard-pipeline", "Secret/switchyard-keys", "Secret/switchyard-s3"} {
		if _, ok := s.objects[want]; !ok {
			t.Errorf("missing %s", want)
		}
	}
}

// TestConfigsLoad decodes the mounted configs strictly, with exactly the
// environment each workload's envFrom gives it.
func TestConfigsLoad(t *testing.T) {
	s := load(t)
	d, gw := s.gateway(t)
	_, pc := s.cron(t)
	gwPath := s.mountedConfig(t, d.Spec.Template.Spec, gw)
	cronPod := s.get(t, "CronJob", "switchyard-pipeline").Spec.JobTemplate.Spec.Template.Spec
	pPath := s.mountedConfig(t, cronPod, pc)

	var gcfg *config.Config
	t.Run("gateway", func(t *testing.T) {
		env := s.env(t, gw)
		withEnv(t, gwPath, env)
		cfg, err := config.Load(gwPath)
		if err != nil {
			t.Fatal(err)
		}
		gcfg = cfg
		// Keys are read from the environment by name at start; an empty one
		// stops the gateway.
		for _, k := range append(cfg.Auth.APIKeys, cfg.Auth.AdminKeys...) {
			if k.KeyEnv != "" && env[k.KeyEnv] == "" {
				t.Errorf("auth key %s: %s is not in the gateway's environment", k.ID, k.KeyEnv)
			}
		}
		for _, dep := range cfg.Deployments {
			if dep.APIKeyEnv != "" && env[dep.APIKeyEnv] == "" {
				t.Errorf("deployment %s: %s is not in the gateway's environment", dep.Name, dep.APIKeyEnv)
			}
		}
		// The gateway loads the pipeline config too (admin API).
		if cfg.Pipeline.Config != "" {
			p := s.files["switchyard-config"][filepath.Base(cfg.Pipeline.Config)]
			if p == "" {
				t.Fatalf("pipeline.config %s is not in the switchyard-config ConfigMap", cfg.Pipeline.Config)
			}
			withEnv(t, p, env)
			if _, err := pipeline.Load(p); err != nil {
				t.Fatalf("pipeline config with the gateway's environment: %v", err)
			}
		}
	})
	var pcfg *pipeline.Config
	t.Run("pipeline", func(t *testing.T) {
		withEnv(t, pPath, s.env(t, pc))
		c, err := pipeline.Load(pPath)
		if err != nil {
			t.Fatal(err)
		}
		pcfg = c
	})
	if gcfg == nil || pcfg == nil {
		return
	}
	t.Run("agree", func(t *testing.T) {
		if gcfg.Telemetry.PromptCapture != "text" {
			t.Errorf("telemetry.prompt_capture is %q: the pipeline's tf-idf routers need text", gcfg.Telemetry.PromptCapture)
		}
		if pcfg.Export.Jaeger == nil || pcfg.Export.Jaeger.Service != gcfg.Telemetry.ServiceName {
			t.Errorf("the pipeline exports service %+v, the gateways trace as %q", pcfg.Export.Jaeger, gcfg.Telemetry.ServiceName)
		}
		if gcfg.Pipeline.Schedule != "" {
			t.Errorf("pipeline.schedule %q in the gateway and the CronJob would both run the pipeline", gcfg.Pipeline.Schedule)
		}
		learned := false
		for _, st := range gcfg.Strategies {
			if st.Params["model"] == pcfg.Model {
				learned = true
				for i, tr := range pcfg.Train {
					if tr.Kind != st.Kind {
						t.Errorf("strategy %s serves %s as %s; the pipeline's train[%d] is %s", st.Name, pcfg.Model, st.Kind, i, tr.Kind)
					}
				}
			}
		}
		if !learned {
			t.Errorf("no strategy serves the pipeline's model %q", pcfg.Model)
		}
	})
}

// TestGatewayBuilds builds a gateway from the mounted config, so strategy
// kinds and params, routes and providers are validated as `serve` does.
// The shared services are swapped for local stand-ins first (a file store,
// no Redis, no collector, no pipeline service): this checks the config, not
// the cluster, and must not reach for cluster DNS names.
func TestGatewayBuilds(t *testing.T) {
	s := load(t)
	d, c := s.gateway(t)
	env := s.env(t, c)
	env["SWITCHYARD_STORE"] = "file://" + t.TempDir()
	env["SWITCHYARD_REDIS_URL"] = ""
	env["OTLP_ENDPOINT"] = ""
	p := s.mountedConfig(t, d.Spec.Template.Spec, c)
	withEnv(t, p, env)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline = config.Pipeline{} // loaded by TestConfigsLoad
	cfg.Models.CacheDir = t.TempDir()
	if _, err := gateway.New(gateway.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("gateway from %s: %v", p, err)
	}
}

func TestGatewayDeployment(t *testing.T) {
	s := load(t)
	d, c := s.gateway(t)
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 3 {
		t.Errorf("replicas %v: want at least 3", d.Spec.Replicas)
	}
	env := s.env(t, c)
	gwPath := s.mountedConfig(t, pod, c)
	withEnv(t, gwPath, env)
	cfg, err := config.Load(gwPath)
	if err != nil {
		t.Fatal(err)
	}

	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if _, port, _ := strings.Cut(cfg.Listen, ":"); port == "" || ports["http"] == 0 || port != strconv.Itoa(ports["http"]) {
		t.Errorf("listen %q does not match containerPort http %d", cfg.Listen, ports["http"])
	}
	for _, tc := range []struct {
		name string
		p    *probe
		path string
	}{{"readiness", c.ReadinessProbe, "/health/ready"}, {"liveness", c.LivenessProbe, "/health/live"}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.p == nil {
				t.Fatal("no probe")
			}
			if tc.p.HTTPGet.Path != tc.path {
				t.Errorf("path %q, want %q", tc.p.HTTPGet.Path, tc.path)
			}
			if _, ok := ports[tc.p.HTTPGet.Port]; !ok {
				t.Errorf("port %q is not a named container port", tc.p.HTTPGet.Port)
			}
		})
	}

	// SIGTERM: --shutdown-delay, then limits.shutdown_timeout for in-flight
	// requests, then up to 5s of trace flush (serve's tr.Shutdown), all
	// before the kubelet's SIGKILL.
	delay := time.Duration(0)
	if i := slices.Index(c.Args, "--shutdown-delay"); i >= 0 && i+1 < len(c.Args) {
		delay, err = time.ParseDuration(c.Args[i+1])
		if err != nil {
			t.Fatalf("--shutdown-delay: %v", err)
		}
	}
	if delay < 5*time.Second {
		t.Errorf("--shutdown-delay %s: load balancers need a few seconds to drop a pod", delay)
	}
	need := delay + cfg.Limits.ShutdownTimeout.D() + 5*time.Second
	grace := 30 * time.Second // Kubernetes' default
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < need {
		t.Errorf("terminationGracePeriodSeconds %s < shutdown delay %s + shutdown_timeout %s + 5s flush",
			grace, delay, cfg.Limits.ShutdownTimeout.D())
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" {
			t.Errorf("no %s request", r)
		}
	}
	if c.Resources.Limits["memory"] == "" {
		t.Error("no memory limit")
	}
	mounted := false
	for _, vm := range c.VolumeMounts {
		mounted = mounted || vm.MountPath == cfg.Models.CacheDir
	}
	if !mounted {
		t.Errorf("models.cache_dir %s is not a volume mount (the root filesystem is read-only)", cfg.Models.CacheDir)
	}
}

func TestSelectorsMatchPods(t *testing.T) {
	s := load(t)
	d, _ := s.gateway(t)
	pods := d.Spec.Template.Metadata.Labels
	for _, key := range []string{"Deployment/switchyard-gateway", "Service/switchyard", "PodDisruptionBudget/switchyard-gateway"} {
		t.Run(key, func(t *testing.T) {
			sel := s.objects[key].Spec.Selector.MatchLabels
			if len(sel) == 0 {
				t.Fatal("empty selector")
			}
			for k, v := range sel {
				if pods[k] != v {
					t.Errorf("selector %s=%s does not match the gateway pods' labels %v", k, v, pods)
				}
			}
		})
	}
	pdb := s.get(t, "PodDisruptionBudget", "switchyard-gateway")
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable >= *d.Spec.Replicas {
		t.Errorf("PDB maxUnavailable %v lets every replica go at once", pdb.Spec.MaxUnavailable)
	}
}

func TestPipelineCronJob(t *testing.T) {
	s := load(t)
	cj, c := s.cron(t)
	if _, err := cron.ParseStandard(cj.Spec.Schedule); err != nil {
		t.Errorf("schedule %q: %v", cj.Spec.Schedule, err)
	}
	if cj.Spec.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy %q: two runs at once would race to deploy", cj.Spec.ConcurrencyPolicy)
	}
	if len(c.Args) < 2 || c.Args[0] != "pipeline" || c.Args[1] != "run" {
		t.Errorf("args %v: want pipeline run --config ...", c.Args)
	}
	p := s.mountedConfig(t, cj.Spec.JobTemplate.Spec.Template.Spec, c)
	withEnv(t, p, s.env(t, c))
	pc, err := pipeline.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if dl := time.Duration(cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds) * time.Second; dl <= pc.Timeout.D() {
		t.Errorf("activeDeadlineSeconds %s must exceed the pipeline's timeout %s, so the run ends itself and records why", dl, pc.Timeout.D())
	}
}

// TestSecretsArePlaceholders keeps real credentials out of the repository.
func TestSecretsArePlaceholders(t *testing.T) {
	s := load(t)
	for key, o := range s.objects {
		if o.Kind != "Secret" {
			continue
		}
		for k, v := range o.StringData {
			if !strings.HasPrefix(v, "REPLACE") {
				t.Errorf("%s: %s is not a REPLACE... placeholder", key, k)
			}
		}
	}
}

// TestKustomizeRenders renders the folder with kubectl's built-in kustomize
// when kubectl is installed: generator file paths resolve, and every
// reference to a generated ConfigMap is rewritten to its hashed name.
func TestKustomizeRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed; the other tests still decode every manifest")
	}
	out, err := exec.Command(kubectl, "kustomize", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v\n%s", err, out)
	}
	rendered := string(out)
	for _, name := range []string{"switchyard-config", "switchyard-env"} {
		if strings.Contains(rendered, "name: "+name+"\n") {
			t.Errorf("a reference to %s was not rewritten to its hashed name", name)
		}
		if !regexp.MustCompile(`name: ` + name + `-[a-z0-9]{10}\n`).MatchString(rendered) {
			t.Errorf("no generated %s-<hash> in the output", name)
		}
	}
	for _, want := range []string{"kind: Deployment", "kind: CronJob", "kind: PodDisruptionBudget", "namespace: switchyard", "image: registry.example.com/switchyard:"} {
		if !strings.Contains(rendered, want) {
			t.Errorf("rendered output lacks %q", want)
		}
	}
}
