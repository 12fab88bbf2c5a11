: nb_kdr.mod - slower delayed-rectifier potassium current, n^4.
: Kinetics: Hodgkin & Huxley (1952) J Physiol 117:500 as shifted for a
: cortical fast-spiking interneuron by Wang & Buzsaki (1996) J Neurosci 16:6402;
: phi scales the rates (Wang & Buzsaki use 5; 1 makes it a slow companion of
: Kv3); phi is the only temperature/speed factor (no Q10 on celsius). Written for noble.
NEURON {
    SUFFIX nb_kdr
    USEION k READ ek WRITE ik
    RANGE gbar, g
    GLOBAL phi
}
UNITS { (S) = (siemens) (mV) = (millivolt) (mA) = (milliamp) }
PARAMETER {
    gbar = 0.01 (S/cm2)
    phi = 1
}
ASSIGNED { v (mV) ek (mV) ik (mA/cm2) g (S/cm2) ninf ntau (ms) }
STATE { n }
BREAKPOINT {
    SOLVE states METHOD cnexp
    g = gbar*n*n*n*n
    ik = g*(v - ek)
}
DERIVATIVE states { rates(v) n' = (ninf - n)/ntau }
INITIAL { rates(v) n = ninf }
FUNCTION efun(x) {
    if (fabs(x) < 1e-6) { efun = 1 - x/2 } else { efun = x/(exp(x) - 1) }
}
PROCEDURE rates(v (mV)) { LOCAL a, b
    TABLE ninf, ntau DEPEND phi FROM -120 TO 80 WITH 800
    a = 0.01*10*efun(-(v + 34)/10)
    b = 0.125*exp(-(v + 44)/80)
    ninf = a/(a + b)
    ntau = 1/(a + b)/phi
}
