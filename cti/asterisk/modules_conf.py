"""The curated ``modules.conf``: ``autoload=no`` and only what Hotline needs.

Started from the AMI lab's list (../shared/ami-transcripts/config/modules.conf, which the
transcripts were captured with) plus ``res_agi`` for Hotline's FastAGI server and
``app_voicemail`` for the IVR's voicemail nodes (its ``voicemail.conf`` is always
Hotline's: :mod:`cti.asterisk.voicemail_conf`). Nothing network-facing besides AMI and
PJSIP/RTP is loaded: no chan_iax2 (0.0.0.0:4569), pbx_dundi, res_xmpp, HTTP/ARI, STUN,
HEP, statsd, corosync, ...

:func:`check_modules_conf` is applied to a ``modules.conf`` that a configuration
directory brings along: it must say ``autoload=no`` and load nothing in :data:`DENIED`.
"""

from __future__ import annotations

import re

MODULES_CONF = """\
; modules.conf -- written by Hotline (cti/asterisk/modules_conf.py), do not edit here.
;
; autoload=no with an explicit list: only what Hotline needs. Note that
; res_pjsip_exten_state loads only together with res_pjsip_outbound_publish.
[modules]
autoload=no

; --- core resources
load => res_timing_timerfd.so
load => res_sorcery_config.so
load => res_sorcery_memory.so
load => res_sorcery_astdb.so
load => res_pjproject.so
load => res_rtp_asterisk.so
load => res_musiconhold.so
load => res_manager_devicestate.so      ; AMI DeviceStateList
load => res_manager_presencestate.so    ; AMI PresenceStateList
load => res_clioriginate.so

; --- PJSIP
load => res_pjsip.so
load => res_pjsip_session.so
load => res_pjsip_authenticator_digest.so
load => res_pjsip_outbound_authenticator_digest.so
load => res_pjsip_endpoint_identifier_user.so
load => res_pjsip_registrar.so
load => res_pjsip_sdp_rtp.so
load => res_pjsip_caller_id.so
load => res_pjsip_dtmf_info.so
load => res_pjsip_diversion.so
load => res_pjsip_rfc3326.so
load => res_pjsip_header_funcs.so
load => res_pjsip_nat.so
load => res_pjsip_pubsub.so
; res_pjsip_outbound_publish is needed by res_pjsip_exten_state (publishes nothing unless
; configured)
load => res_pjsip_outbound_publish.so
load => res_pjsip_exten_state.so
load => res_pjsip_pidf_body_generator.so
load => res_pjsip_dialog_info_body_generator.so
load => res_pjsip_refer.so
load => res_pjsip_logger.so
load => chan_pjsip.so
load => func_pjsip_endpoint.so
load => func_pjsip_contact.so
load => func_pjsip_aor.so

; --- other channel drivers (Local channels are built into the core)
load => chan_bridge_media.so            ; ConfBridge announcer/recorder channels

; --- bridging
load => bridge_simple.so
load => bridge_native_rtp.so
load => bridge_softmix.so
load => bridge_holding.so
load => bridge_builtin_features.so
load => bridge_builtin_interval_features.so

; --- codecs / file formats
load => codec_ulaw.so
load => codec_alaw.so
load => codec_a_mu.so
load => codec_gsm.so
load => codec_resample.so
load => format_gsm.so
load => format_wav.so
load => format_wav_gsm.so
load => format_pcm.so
load => format_sln.so

; --- dialplan
load => pbx_config.so

; --- applications
load => app_dial.so
load => app_queue.so
load => app_playback.so
load => app_read.so
load => app_chanspy.so
load => app_confbridge.so
load => app_mixmonitor.so
load => app_directed_pickup.so
load => app_echo.so
load => app_stack.so
load => app_verbose.so
load => app_senddtmf.so
load => app_userevent.so
load => app_softhangup.so
load => app_exec.so
load => app_milliwatt.so
load => app_playtones.so

; --- functions
load => func_groupcount.so
load => func_callerid.so
load => func_channel.so
load => func_logic.so
load => func_strings.so
load => func_cut.so
load => func_global.so
load => func_math.so
load => func_devstate.so
load => func_extstate.so
load => func_hangupcause.so
load => func_timeout.so
load => func_db.so

; --- Hotline additions (not in the lab list)
load => res_speech.so                   ; res_agi needs its symbols
load => res_agi.so                      ; AGI/FastAGI to Hotline's own server (agi://127.0.0.1)
load => app_voicemail.so                ; the IVR's voicemail nodes (voicemail.conf: no e-mail)
"""

# Modules that open sockets off loopback, call out to the internet or serve HTTP.
DENIED = frozenset(
    {
        "chan_iax2.so",
        "pbx_dundi.so",
        "res_xmpp.so",
        "chan_motif.so",
        "res_hep.so",
        "res_hep_pjsip.so",
        "res_hep_rtcp.so",
        "res_stun_monitor.so",
        "res_statsd.so",
        "res_corosync.so",
        "chan_unistim.so",
        "chan_mgcp.so",
        "chan_ooh323.so",
        "chan_sip.so",
        "chan_skinny.so",
        "res_ari.so",
        "res_http_websocket.so",
        "res_http_media_cache.so",
        "res_http_post.so",
        "res_phoneprov.so",
        "res_pjsip_phoneprov_provider.so",
        "res_resolver_unbound.so",
        "res_snmp.so",
        "res_calendar.so",
        "res_smdi.so",
        "res_prometheus.so",
        "res_aeap.so",
        "res_speech_aeap.so",
        "cdr_radius.so",
        "cel_radius.so",
        "res_config_ldap.so",
        "res_pjsip_stir_shaken.so",
        "res_stir_shaken.so",
        "chan_websocket.so",
        "res_websocket_client.so",
        "res_geolocation.so",
    }
)

_LOAD = re.compile(r"^\s*(?:load|require|preload|preload-require)\s*=>?\s*([\w.-]+)", re.I)
_AUTOLOAD = re.compile(r"^\s*autoload\s*=\s*(\w+)", re.I)


def loaded_modules(text: str) -> list[str]:
    """The modules a ``modules.conf`` text loads explicitly (comments ignored)."""
    found = []
    for raw in text.splitlines():
        match = _LOAD.match(raw.split(";", 1)[0])
        if match:
            name = match.group(1)
            found.append(name if name.endswith(".so") else f"{name}.so")
    return found


def check_modules_conf(text: str) -> list[str]:
    """Problems that make a ``modules.conf`` unsafe here (empty list: fine)."""
    problems = []
    autoload = [
        m.group(1).lower()
        for raw in text.splitlines()
        if (m := _AUTOLOAD.match(raw.split(";", 1)[0]))
    ]
    if not autoload or autoload[-1] not in ("no", "false", "0", "off"):
        problems.append("modules.conf must say autoload=no (the stock list binds 0.0.0.0)")
    denied = sorted(set(loaded_modules(text)) & DENIED)
    if denied:
        problems.append(f"modules.conf loads network-facing modules: {', '.join(denied)}")
    return problems
