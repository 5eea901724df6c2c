"""IVR control over FastAGI: menus, DTMF, satisfaction survey."""
