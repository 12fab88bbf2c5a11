: nb_km.mod - muscarinic (M-type, KCNQ) potassium current, gate m.
: Kinetics: Adams, Brown & Constanti (1982) J Physiol 330:537, as written by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Im). Written for noble.
NEURON {
    SUFFIX nb_km
    USEION k READ ek WRITE ik
    RANGE gbar, g
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER { gbar = 1e-4 (S/cm2) }
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) g (S/cm2) celsius (degC) minf mtau (ms) }
STATE { m }
BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m
    ik = g*(v - ek)
}
DERIVATIVE states { rates(v) m' = (minf - m)/mtau }
INITIAL { rates(v) m = minf }
PROCEDURE rates(v (mV)) { LOCAL qt, a, b
    TABLE minf, mtau DEPEND celsius FROM -120 TO 80 WITH 800
    qt = 2.3^((celsius - 21)/10)
    a = 3.3e-3*exp(2.5*0.04*(v + 35))
    b = 3.3e-3*exp(-2.5*0.04*(v + 35))
    minf = a/(a + b)
    mtau = 1/(a + b)/qt
}
