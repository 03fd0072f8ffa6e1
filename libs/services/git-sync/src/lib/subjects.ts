/**
 * git-sync's own subject (not part of the public contracts): a replica that received a
 * verified webhook asks whichever replica holds the repository's sync lock to check now.
 */
export const SYNC_REQUESTED = 'rungate.git-sync.sync-requested.v1';
