// The wire between the server and a sandbox's exec launcher (exec_launcher.h), shared by
// both sides. Two kinds of unix stream socket:
//
//  control (one per launcher, server <-> launcher):
//    launcher -> server  'L'                 once, at start (SCM_CREDENTIALS name its pid)
//    server -> launcher  'S' + SCM_RIGHTS(fd) fork a spare that talks on fd
//    server -> launcher  'C'                 no command runs: empty /tmp, /dev/shm, SysV IPC
//    launcher -> server  'c'                 ... done
//  spare (one per command, server <-> spare, the launcher keeps a copy):
//    spare -> server     'R'                 forked and waiting (SCM_CREDENTIALS: its pid)
//    server -> spare     'E' + u32 length + payload + SCM_RIGHTS(stdin, stdout, stderr)
//                        payload: NUL-terminated workdir, then "A<arg>" per argument
//                        and "V<KEY=VALUE>" per environment entry
//    launcher -> server  'X' + i32 status    the command ended (128+N when killed by N)
//
// Every byte the server reads is checked against the writer's host pid (SO_PASSCRED):
// only the launcher and, for 'R', the spare it forked count.
#pragma once

#include <cstdint>

namespace agentfense::runtime::launcher_wire {

inline constexpr char kHello = 'L';
inline constexpr char kSpare = 'S';
inline constexpr char kClean = 'C';
inline constexpr char kCleaned = 'c';
inline constexpr char kReady = 'R';
inline constexpr char kExec = 'E';
inline constexpr char kExit = 'X';

inline constexpr char kArg = 'A';
inline constexpr char kEnv = 'V';

// A request larger than this is refused by the spare (the server's own request limits
// are far below it).
inline constexpr std::uint32_t kMaxPayload = 64u << 20;

// The spare's exit status when the command cannot be started (as bwrap's).
inline constexpr int kSetupFailedStatus = 1;

}  // namespace agentfense::runtime::launcher_wire
