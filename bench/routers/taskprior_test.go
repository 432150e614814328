package routers

import (
	"math"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// taskPrior predicts, for every row, each candidate's mean quality and cost
// over the fit rows of the same source (RouterBench's task): a router that
// knows the task and nothing about the prompt.
func taskPrior(fit, rows []dataset.Row, cands []string) eval.Matrix {
	type acc struct{ q, nq, c, nc float64 }
	by := map[string][]acc{}
	for _, r := range fit {
		a := by[r.Source]
		if a == nil {
			a = make([]acc, len(cands))
			by[r.Source] = a
		}
		for j, name := range cands {
			o, ok := r.Outcomes[name]
			if !ok {
				continue
			}
			if o.Quality != nil {
				a[j].q += *o.Quality
				a[j].nq++
			}
			if o.Cost != nil {
				a[j].c += *o.Cost
				a[j].nc++
			}
		}
	}
	m := eval.Matrix{Candidates: cands, CostScale: eval.CostScale(eval.FromRows(fit, cands))}
	for _, r := range rows {
		q, c := make([]float64, len(cands)), make([]float64, len(cands))
		a := by[r.Source]
		for j := range cands {
			q[j], c[j] = math.NaN(), math.NaN()
			if a != nil && a[j].nq > 0 && a[j].nc > 0 {
				q[j], c[j] = a[j].q/a[j].nq, a[j].c/a[j].nc
			}
		}
		m.Quality, m.Cost = append(m.Quality, q), append(m.Cost, c)
	}
	return m
}

// BenchmarkCVTaskPrior is the cross-validated AIQ (the same four re-splits
// of the training split as BenchmarkCV) of a router that only knows the
// RouterBench task, to see how much of a learned router's AIQ comes from the
// prompt's text rather than its task. Nothing is trained; the test split is
// never read. Run:
// go test ./bench/routers -run '^$' -bench CVTaskPrior -benchtime 1x -v
func BenchmarkCVTaskPrior(b *testing.B) {
	train, _ := loadRouterBench(b)
	cands := dataset.Candidates(train)
	var m float64
	var each, singles []float64
	for b.Loop() {
		var preds, truths []eval.Matrix
		singles = nil
		for f := range int64(4) {
			fit, val := dataset.Split(train, 0.3, 100+f)
			preds = append(preds, taskPrior(fit, val, cands))
			truth := eval.FromRows(val, cands)
			truths = append(truths, truth)
			s := eval.Singles(truth)
			singles = append(singles, eval.AIQ(s, s))
		}
		m, each = meanAIQ(preds, truths)
	}
	b.ReportMetric(m, "cv_aiq")
	b.ReportMetric(mean(singles), "cv_aiq_singles")
	b.Logf("task prior: folds %.4f; single models %.4f", each, singles)
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// questionOnly returns rows whose prompt is only its last part (the
// question, without the few-shot examples the importer joined before it).
func questionOnly(rows []dataset.Row) []dataset.Row {
	out := make([]dataset.Row, len(rows))
	for i, r := range rows {
		if k := strings.LastIndex(r.Prompt, "\n\n"); k >= 0 {
			r.Prompt = r.Prompt[k+2:]
		}
		out[i] = r
	}
	return out
}

// BenchmarkCVQuestionOnly asks whether the few-shot examples drown the
// per-prompt signal: each kind's cross-validated AIQ (as BenchmarkCV) when
// RouterBench prompts are cut to their question. A diagnostic only; serving
// sees whole prompts. Run:
// go test ./bench/routers -run '^$' -bench CVQuestionOnly -benchtime 1x -v
func BenchmarkCVQuestionOnly(b *testing.B) {
	for _, kind := range []string{router.KindMLP, router.KindKNN} {
		b.Run(kind, func(b *testing.B) {
			train, _ := loadRouterBench(b)
			train = questionOnly(train)
			var m float64
			var each []float64
			for b.Loop() {
				p, tr := cvPreds(b, train, Config("routerbench", kind), 4)
				m, each = meanAIQ(p, tr)
			}
			b.ReportMetric(m, "cv_aiq")
			b.Logf("question-only %s: folds %.4f", kind, each)
		})
	}
}
