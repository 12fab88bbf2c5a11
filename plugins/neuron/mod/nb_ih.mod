: nb_ih.mod - hyperpolarisation-activated cation current (HCN), gate m.
: Kinetics: Kole, Hallermann & Stuart (2006) J Neurosci 26:1677, as written
: by Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Ih); reversal -45 mV.
: Gives the sag of hyperpolarising steps. Written for noble.
NEURON {
    SUFFIX nb_ih
    NONSPECIFIC_CURRENT ihcn
    RANGE gbar, g, ehcn
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER {
    gbar = 1e-5 (S/cm2)
    ehcn = -45 (mV)
}
ASSIGNED { v (mV) ihcn (mA/cm2) g (S/cm2) minf mtau (ms) }
STATE { m }
BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m
    ihcn = g*(v - ehcn)
}
DERIVATIVE states { rates(v) m' = (minf - m)/mtau }
INITIAL { rates(v) m = minf }
FUNCTION efun(x) {
    if (fabs(x) < 1e-6) { efun = 1 - x/2 } else { efun = x/(exp(x) - 1) }
}
PROCEDURE rates(v (mV)) { LOCAL a, b
    TABLE minf, mtau FROM -120 TO 80 WITH 800
    a = 0.001*6.43*11.9*efun((v + 154.9)/11.9)
    b = 0.001*193*exp(v/33.1)
    minf = a/(a + b)
    mtau = 1/(a + b)
}
