// Package smoke holds the test that runs examples/mlops/smoke.sh, the MLOps
// loop against real Redis, VersityGW and Jaeger v2, so CI runs the script
// people are told to run and it cannot rot unnoticed. It has no code of its
// own: the script is the product.
package smoke
