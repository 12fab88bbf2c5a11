COMMENT
NobleSpikeTrain: the spike source of a noble.neuron NobleCell (docs/neuron.md).
An ARTIFICIAL_CELL that emits one event at each time of a Vector (ms, ascending),
like NEURON's VecStim (share/examples/nrniv/netcon/vecevent.mod, not built into
Debian's NEURON), so that h.NetCon(cell.spike_source, target) delivers NOBLE's
predicted spikes under the fixed step and CVode alike. `vm` holds the predicted
somatic voltage when noble.neuron plays it in (Vector.play), so it can be
recorded like a section's v: h.Vector().record(cell.spike_source._ref_vm).
ENDCOMMENT

NEURON {
    THREADSAFE
    ARTIFICIAL_CELL NobleSpikeTrain
    RANGE vm
    POINTER ptr
}

ASSIGNED {
    index
    etime (ms)
    vm (mV)
    ptr
}

INITIAL {
    index = 0
    element()
    if (index > 0) {
        net_send(etime - t, 1)
    }
}

NET_RECEIVE (w) {
    if (flag == 1) {
        net_event(t)
        element()
        if (index > 0) {
            net_send(etime - t, 1)
        }
    }
}

VERBATIM
extern double* vector_vec(void*);
extern int vector_capacity(void*);
extern void* vector_arg(int);
extern Object** vector_pobj(void*);
ENDVERBATIM

PROCEDURE element() {
VERBATIM
    {
        void* vv;
        int i, size;
        double* px;
        i = (int)index;
        if (i >= 0) {
            vv = (void*)(_p_ptr);
            if (vv) {
                size = vector_capacity(vv);
                px = vector_vec(vv);
                if (i < size) {
                    etime = px[i];
                    index += 1.;
                } else {
                    index = -1.;
                }
            } else {
                index = -1.;
            }
        }
    }
ENDVERBATIM
}

PROCEDURE play() {
VERBATIM
    {
        void** pv;
        void* ptmp = NULL;
        if (ifarg(1)) {
            ptmp = vector_arg(1);
            hoc_obj_ref(*vector_pobj(ptmp));
        }
        pv = (void**)(&_p_ptr);
        if (*pv) {
            hoc_obj_unref(*vector_pobj(*pv));
        }
        *pv = ptmp;
    }
ENDVERBATIM
}

DESTRUCTOR {
VERBATIM
    {
        void* vv = (void*)(_p_ptr);
        if (vv) {
            hoc_obj_unref(*vector_pobj(vv));
        }
    }
ENDVERBATIM
}
