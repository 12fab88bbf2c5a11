: nb_nap.mod - persistent sodium current, m^3 h with very slow inactivation.
: Kinetics: Magistretti & Alonso (1999) J Gen Physiol 114:491, as written by
: Hay et al. (2011) PLoS Comput Biol 7:e1002107 (Nap_Et2). Written for noble.
NEURON {
    SUFFIX nb_nap
    USEION na READ ena WRITE ina
    RANGE gbar, g
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER { gbar = 1e-5 (S/cm2) }
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
    if (fabs(x) < 1e-6) { efun = 1 - x/2 } else { efun = x/(exp(x) - 1) }
}
PROCEDURE rates(v (mV)) { LOCAL qt, a, b
    TABLE minf, hinf, mtau, htau DEPEND celsius FROM -120 TO 80 WITH 800
    qt = 2.3^((celsius - 21)/10)
    minf = 1/(1 + exp(-(v + 52.6)/4.6))
    a = 0.182*6*efun(-(v + 38)/6)
    b = 0.124*6*efun((v + 38)/6)
    mtau = 6/(a + b)/qt
    hinf = 1/(1 + exp((v + 48.8)/10))
    a = 2.88e-6*4.63*efun((v + 17)/4.63)
    b = 6.94e-6*2.63*efun(-(v + 64.4)/2.63)
    htau = 1/(a + b)/qt
}
