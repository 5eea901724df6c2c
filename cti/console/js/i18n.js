// Chinese and English labels. The terms follow DESIGN.md §4 (the seeds' glossary).
// Static labels carry data-i18n="key" (text) or data-i18n-attr="attr:key,..."; dynamic
// text calls t(key).

const LABELS = {
  title: ["Hotline 呼叫中心", "Hotline call center"],
  language: ["English", "中文"],
  login_title: ["登录", "Log in"],
  agent_id: ["工号", "Agent ID"],
  password: ["密码", "Password"],
  extension: ["分机", "Extension"],
  extension_hint: ["坐席分机，如 8000", "your desk's extension, e.g. 8000"],
  log_in: ["登录", "Log in"],
  log_out: ["退出", "Log out"],
  view_supervisor: ["调度监控", "Supervisor"],
  view_agent: ["坐席", "Agent desk"],
  conn_connecting: ["正在连接…", "connecting…"],
  conn_connected: ["已连接", "connected"],
  conn_reconnecting: ["连接断开，重连中…", "disconnected, reconnecting…"],
  conn_error: ["连接错误", "connection error"],
  pbx_down: ["交换机连接中断", "PBX link down"],
  // lamps
  lamps: ["分机灯（忙/闲/振铃）", "Extension lamps (busy/idle/ringing)"],
  lamp_idle: ["闲", "idle"],
  lamp_busy: ["忙", "busy"],
  lamp_ringing: ["振铃", "ringing"],
  lamp_unavailable: ["未注册", "unavailable"],
  lamp_unknown: ["未知", "unknown"],
  other_extensions: ["其他分机", "Other extensions"],
  selected: ["已选", "selected"],
  direct_call: ["直呼", "Direct call"],
  pickup: ["强接", "Force pickup"],
  select_call: ["选呼", "Select-call"],
  clear_selection: ["清除选择", "Clear selection"],
  party: ["对方", "party"],
  duration: ["时长", "duration"],
  // agents
  agents: ["坐席监控", "Agent monitoring"],
  col_agent: ["工号", "Agent"],
  col_name: ["姓名", "Name"],
  col_extension: ["分机", "Ext."],
  col_state: ["状态", "State"],
  col_reason: ["原因", "Reason"],
  col_time: ["持续", "Time"],
  state_logged_out: ["未登录", "logged out"],
  state_ready: ["就绪", "ready"],
  state_not_ready: ["示忙", "not ready"],
  state_ringing: ["振铃", "ringing"],
  state_on_call: ["通话中", "on call"],
  state_wrap_up: ["话后处理", "wrap-up"],
  // queues, trunks
  queues: ["队列", "Queues"],
  col_queue: ["队列", "Queue"],
  col_waiting: ["排队", "Waiting"],
  col_longest: ["最长等待", "Longest wait"],
  col_sl: ["服务水平", "Service level"],
  col_ready: ["就绪坐席", "Ready"],
  trunks: ["中继占用", "Trunk occupancy"],
  // calls
  calls: ["当前通话", "Live calls"],
  col_call: ["呼叫", "Call"],
  col_caller: ["主叫", "Caller"],
  col_actions: ["操作", "Actions"],
  call_queued: ["排队", "queued"],
  call_ringing: ["振铃", "ringing"],
  call_talking: ["通话", "talking"],
  listen: ["监听", "Listen"],
  whisper: ["耳语", "Whisper"],
  barge: ["强插", "Barge in"],
  release: ["强拆", "Force release"],
  release_reason: ["强拆原因", "Reason for the release"],
  stop_monitor: ["停止监听", "Stop"],
  col_monitor: ["监听", "Monitor"],
  mode_listen: ["监听", "listening"],
  mode_whisper: ["耳语", "whispering"],
  mode_barge: ["强插", "barged in"],
  no_calls: ["无通话", "No calls"],
  // conference, groups
  conference: ["选呼会议", "Select-call conference"],
  conference_hint: ["在分机灯上选择分机，然后按“选呼”", "Select extensions on the lamps, then press Select-call"],
  room: ["会议室", "Room"],
  members: ["成员", "Members"],
  groups: ["群呼", "Group call"],
  group_call: ["群呼", "Call group"],
  no_groups: ["无预设组", "No preset groups"],
  owner: ["发起", "owner"],
  no_conferences: ["无会议", "No conferences"],
  col_audio: ["话音", "Audio"],
  member_invited: ["呼叫中", "invited"],
  member_joined: ["已入会", "joined"],
  member_left: ["已离开", "left"],
  member_failed: ["未应答", "no answer"],
  member_dropped: ["已踢出", "dropped"],
  muted: ["已禁言", "muted"],
  talking: ["讲话中", "talking"],
  mute: ["禁言", "Mute"],
  unmute: ["解除禁言", "Unmute"],
  drop: ["踢出", "Drop"],
  add: ["加入", "Add"],
  add_extensions: ["加入分机", "Add extensions"],
  extensions_hint: ["如 8001, 8002", "e.g. 8001, 8002"],
  end_conference: ["结束会议", "End conference"],
  new_group: ["新建群呼组", "New group"],
  edit_group: ["编辑群呼组", "Edit group"],
  group_name: ["组名", "Name"],
  group_extensions: ["分机", "Extensions"],
  group_description: ["说明", "Description"],
  edit: ["编辑", "Edit"],
  delete: ["删除", "Delete"],
  confirm_delete: ["再按一次确认删除", "Press again to delete"],
  save: ["保存", "Save"],
  cancel: ["取消", "Cancel"],
  // agent desk
  desk: ["坐席", "Agent desk"],
  my_state: ["我的状态", "My state"],
  ready: ["就绪", "Ready"],
  not_ready: ["示忙", "Not ready"],
  reason: ["原因", "Reason"],
  reason_break: ["休息", "break"],
  reason_meeting: ["会议", "meeting"],
  reason_training: ["培训", "training"],
  reason_paperwork: ["整理工单", "paperwork"],
  screen_pop: ["来电弹屏", "Screen pop"],
  no_call: ["当前无来电", "No call"],
  caller: ["来电号码", "Caller"],
  queue: ["队列", "Queue"],
  customer: ["客户信息", "Customer"],
  customer_unknown: ["查无此客户信息！请录入新客户。", "No customer with this number: enter a new customer."],
  name: ["姓名", "Name"],
  phones: ["电话", "Phones"],
  address: ["地址", "Address"],
  notes: ["备注", "Notes"],
  save_customer: ["新增", "Add customer"],
  customer_saved: ["客户已保存", "Customer saved"],
  history: ["历史来电", "Recent calls"],
  no_history: ["无历史来电", "No earlier calls"],
  call_controls: ["通话控制", "Call controls"],
  hold: ["保持", "Hold"],
  unhold: ["取回", "Resume"],
  transfer_to: ["转接至", "Transfer to"],
  blind: ["直接转接", "Blind transfer"],
  attended: ["咨询转接", "Attended transfer"],
  conference_to: ["三方会议", "Conference in"],
  hang_up: ["挂机", "Hang up"],
  wrap_up: ["话后处理", "Wrap-up"],
  disposition: ["工单类型", "Disposition"],
  disp_fault: ["故障", "fault"],
  disp_complaint: ["投诉", "complaint"],
  disp_inquiry: ["咨询", "inquiry"],
  disp_other: ["其他", "other"],
  resolved: ["问题已解决", "Resolved"],
  submit_wrap_up: ["提交", "Submit"],
  shortcuts: ["快捷键：F2 就绪 · F3 示忙 · F4 保持 · F8 转接 · F9 挂机 · Ctrl+Enter 提交话后处理",
    "Keys: F2 ready · F3 not ready · F4 hold · F8 transfer · F9 hang up · Ctrl+Enter submit wrap-up"],
  error: ["错误", "Error"],
  dismiss: ["关闭", "Dismiss"],
  done: ["完成", "done"],
};

let lang = pickLanguage();

function pickLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "zh" || asked === "en") return asked;
  const saved = localStorage.getItem("hotline.lang");
  if (saved === "zh" || saved === "en") return saved;
  return "zh"; // the seeds' users read Chinese
}

export function language() {
  return lang;
}

export function t(key) {
  const pair = LABELS[key];
  if (!pair) return key;
  return pair[lang === "zh" ? 0 : 1];
}

export function setLanguage(next) {
  lang = next;
  localStorage.setItem("hotline.lang", next);
  applyLabels(document);
}

export function applyLabels(root) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  }
}
