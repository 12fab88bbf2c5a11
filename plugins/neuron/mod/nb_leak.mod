: nb_leak.mod - passive leak conductance (linear, ohmic). Written for noble.
NEURON {
    SUFFIX nb_leak
    NONSPECIFIC_CURRENT i
    RANGE g, e
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER {
    g = 1e-4 (S/cm2)
    e = -75 (mV)
}
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g*(v - e) }
