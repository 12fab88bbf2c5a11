: nb_nat.mod - transient (fast-inactivating) sodium current, m^3 h.
: Kinetics: Colbert & Pan (2002) Nat Neurosci 5:533, rate functions as
: parameterised by Hay et al. (2011) PLoS Comput Biol 7:e1002107 (NaTa_t);
: vshift moves both gates (vshift = +6 mV gives the "NaTs2_t" variant that
: the Allen Institute's fast-spiking perisomatic models use). Written for noble.
NEURON {
    SUFFIX nb_nat
    USEION na READ ena WRITE ina
    RANGE gbar, g
    GLOBAL vshift
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER {
    gbar = 0.1 (S/cm2)
    vshift = 0 (mV)
}
ASSIGNED {
    v (mV) ena (mV) ina (mA/cm2) g (S/cm2) celsius (degC)
    minf hinf mtau (ms) htau (ms)
}
STATE { m h }
BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*m*m*m*h
    ina = g*(v - ena)
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m)/mtau
    h' = (hinf - h)/htau
}
INITIAL { rates(v) m = minf h = hinf }
FUNCTION efun(x) {
    : x/(exp(x)-1), continuous at 0
    if (fabs(x) < 1e-6) { efun = 1 - x/2 } else { efun = x/(exp(x) - 1) }
}
PROCEDURE rates(v (mV)) { LOCAL qt, a, b, u
    TABLE minf, hinf, mtau, htau DEPEND celsius, vshift FROM -120 TO 80 WITH 800
    qt = 2.3^((celsius - 21)/10)
    u = v - vshift
    a = 0.182*6*efun(-(u + 38)/6)
    b = 0.124*6*efun((u + 38)/6)
    minf = a/(a + b)
    mtau = 1/(a + b)/qt
    a = 0.015*6*efun((u + 66)/6)
    b = 0.015*6*efun(-(u + 66)/6)
    hinf = a/(a + b)
    htau = 1/(a + b)/qt
}
