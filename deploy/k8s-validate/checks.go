package main

import (
	"fmt"
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// crossCheck: what holds the objects of one rendering together. Each finding names
// the object it is about.
func crossCheck(objects []object) []string {
	var problems []string
	add := func(o object, format string, args ...any) {
		problems = append(problems, o.where+": "+fmt.Sprintf(format, args...))
	}
	var deployments []*appsv1.Deployment
	var services []*corev1.Service
	for _, o := range objects {
		for _, msg := range validation.IsDNS1123Subdomain(o.name) {
			add(o, "metadata.name %q: %s", o.name, msg)
		}
		switch v := o.value.(type) {
		case *appsv1.Deployment:
			deployments = append(deployments, v)
			checkPodSpec(o, &v.Spec.Template.Spec, add)
			sel, err := metav1.LabelSelectorAsSelector(v.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(v.Spec.Template.Labels)) {
				add(o, "spec.selector does not select the pod template's labels")
			}
		case *corev1.Service:
			services = append(services, v)
		}
	}
	for _, o := range objects {
		switch v := o.value.(type) {
		case *corev1.Service:
			checkService(o, v, deployments, add)
		case *networkingv1.NetworkPolicy:
			checkNetworkPolicy(o, v, deployments, add)
		case *monitoringv1.ServiceMonitor:
			checkServiceMonitor(o, v, services, add)
		}
	}
	sort.Strings(problems)
	return problems
}

type adder func(o object, format string, args ...any)

// checkPodSpec: port names, probe ports, mounts and env sources.
func checkPodSpec(o object, spec *corev1.PodSpec, add adder) {
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range spec.Containers {
		ports := map[string]bool{}
		for _, p := range c.Ports {
			for _, msg := range validation.IsValidPortName(p.Name) {
				add(o, "container %s: port name %q: %s", c.Name, p.Name, msg)
			}
			ports[p.Name] = true
		}
		for kind, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" && !ports[probe.HTTPGet.Port.StrVal] {
				add(o, "container %s: %s probe port %q is not a container port", c.Name, kind, probe.HTTPGet.Port.StrVal)
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				add(o, "container %s: mount of undeclared volume %q", c.Name, m.Name)
			}
		}
		for _, e := range c.Env {
			for _, msg := range validation.IsEnvVarName(e.Name) {
				add(o, "container %s: env %q: %s", c.Name, e.Name, msg)
			}
		}
	}
}

// podPorts: the named container ports of the pods a selector picks.
func podPorts(selector map[string]string, deployments []*appsv1.Deployment) (bool, map[string]bool) {
	sel := labels.SelectorFromSet(selector)
	found := false
	ports := map[string]bool{}
	for _, d := range deployments {
		if len(selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		found = true
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				ports[p.Name] = true
			}
		}
	}
	return found, ports
}

func checkService(o object, s *corev1.Service, deployments []*appsv1.Deployment, add adder) {
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		add(o, "Service name %q: %s", s.Name, msg)
	}
	found, ports := podPorts(s.Spec.Selector, deployments)
	if !found {
		add(o, "spec.selector %v selects no pod of this rendering", s.Spec.Selector)
	}
	for _, p := range s.Spec.Ports {
		if name := p.TargetPort.StrVal; name != "" && !ports[name] {
			add(o, "port %s: targetPort %q is not a container port of the selected pods", p.Name, name)
		}
	}
}

func checkNetworkPolicy(o object, np *networkingv1.NetworkPolicy, deployments []*appsv1.Deployment, add adder) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		add(o, "spec.podSelector: %v", err)
		return
	}
	var ports map[string]bool
	for _, d := range deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			_, ports = podPorts(d.Spec.Template.Labels, []*appsv1.Deployment{d})
		}
	}
	if ports == nil {
		add(o, "spec.podSelector selects no pod of this rendering")
		return
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.StrVal != "" && !ports[p.Port.StrVal] {
				add(o, "ingress port %q is not a container port of the selected pods", p.Port.StrVal)
			}
		}
	}
}

func checkServiceMonitor(o object, sm *monitoringv1.ServiceMonitor, services []*corev1.Service, add adder) {
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		add(o, "spec.selector: %v", err)
		return
	}
	ports := map[string]bool{}
	found := false
	for _, s := range services {
		if sel.Matches(labels.Set(s.Labels)) {
			found = true
			for _, p := range s.Spec.Ports {
				ports[p.Name] = true
			}
		}
	}
	if !found {
		add(o, "spec.selector selects no Service of this rendering")
	}
	for _, e := range sm.Spec.Endpoints {
		if e.Port != "" && !ports[e.Port] {
			add(o, "endpoint port %q is not a port of the selected Services", e.Port)
		}
	}
}
