package httpapi

import "github.com/hermhq/herm/internal/herm"

// deploymentOut is the deployment object as responses show it: its
// sandbox.resources are the limits in effect (the driver's defaults where
// the deployment sets none), while the stored configuration keeps only
// what was set.
func (s *Server) deploymentOut(d *herm.Deployment, base string) Deployment {
	out := toDeployment(d, base)
	if s.boxes != nil {
		out.Sandbox.Resources = s.boxes.Limits(d)
	}
	return out
}
