package routers

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// nystromVariants are the SVM settings BenchmarkCVSVMNystrom compares with
// the current linear one.
var nystromVariants = []struct {
	name string
	cfg  svm.Config
}{
	{"linear-c0.3", svm.Config{C: 0.3}},
	{"nys512-g1-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 1, C: 1}},
	{"nys512-g2-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 2, C: 1}},
	{"nys512-g4-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 4, C: 1}},
	{"nys512-g2-c0.3-lin", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 2, C: 0.3, AddLinear: true}},
	{"nys512-g4-c0.3-lin", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 4, C: 0.3, AddLinear: true}},
	{"nys1024-g2-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 1024, Gamma: 2, C: 1}},
	{"nys1024-g2-c0.3-lin", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 1024, Gamma: 2, C: 0.3, AddLinear: true}},
	{"nys512-g1-c0.3-lin", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 1, C: 0.3, AddLinear: true}},
	{"nys512-g2-c3", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 2, C: 3}},
}

// BenchmarkCVSVMNystrom compares Nystrom-kernel SVM settings with the
// current linear one by cross-validated AIQ on a data set's seed-7 training
// split (BenchmarkCV's four 70/30 re-splits; the test split is never read),
// as BenchmarkCVSVMDCRouter does. SVM_VARIANTS=a,b restricts the variants
// by name. Run:
// go test ./bench/routers -run '^$' -bench 'CVSVMNystrom/dcrouter' -benchtime 1x -v -timeout 60m
func BenchmarkCVSVMNystrom(b *testing.B) {
	only := map[string]bool{}
	if s := os.Getenv("SVM_VARIANTS"); s != "" {
		for _, n := range strings.Split(s, ",") {
			only[strings.TrimSpace(n)] = true
		}
	}
	for _, set := range []string{"dcrouter", "routerbench"} {
		for _, v := range nystromVariants {
			if len(only) > 0 && !only[v.name] {
				continue
			}
			b.Run(set+"/"+v.name, func(b *testing.B) {
				load := loadDCRouter
				if set == "routerbench" {
					load = loadRouterBench
				}
				train, _ := load(b)
				cfg := Config(set, router.KindSVM)
				cfg.SVM = v.cfg
				var m float64
				var each []float64
				for b.Loop() {
					p, tr := cvPreds(b, train, cfg, 4)
					m, each = meanAIQ(p, tr)
				}
				b.ReportMetric(m, "cv_aiq")
				b.Logf("%s svm %s: folds %.4f", set, v.name, each)
			})
		}
	}
}

// BenchmarkDecideSVMNystrom measures the decision latency (featurization
// included) of the dcrouter SVM with the linear setting and with the
// nystrom settings, each trained on dcrouter's seed-7 training split, on
// the test split's real prompts and on ~500-character generated prompts,
// in one process so their ratio holds whatever the machine's load. Run:
// go test ./bench/routers -run '^$' -bench 'DecideSVMNystrom' -benchtime 20000x
func BenchmarkDecideSVMNystrom(b *testing.B) {
	train, test := loadDCRouter(b)
	realPrompts := make([]string, len(test))
	for i, r := range test {
		realPrompts[i] = r.Prompt
	}
	short := synthetic.Realistic(2000, 500, 3).Prompts
	for _, v := range []struct {
		name string
		cfg  svm.Config
	}{
		{"linear-c0.3", svm.Config{C: 0.3}},
		{"nys512-g1-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 512, Gamma: 1, C: 1}},
		{"nys1024-g1-c1", svm.Config{Kernel: svm.KernelNystrom, Landmarks: 1024, Gamma: 1, C: 1}},
	} {
		cfg := Config("dcrouter", router.KindSVM)
		cfg.SVM = v.cfg
		r, _, err := router.Train(context.Background(), cfg, train)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(v.name+"/500-char-prompts", func(b *testing.B) { measure(b, r, short) })
		b.Run(v.name+"/dcrouter-prompts", func(b *testing.B) { measure(b, r, realPrompts) })
	}
}
