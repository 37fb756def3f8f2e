/** The bridges' test reader (test/helpers/memory-store-reader.ts) keeps the reader part of the store contract. */
import { MemoryStoreReader } from '../helpers/memory-store-reader.js';
import { storeReaderContract } from './store-contract.js';

storeReaderContract('MemoryStoreReader', async () => {
  const reader = new MemoryStoreReader();
  return {
    reader,
    append: async (readings) => void reader.append(readings),
    dispose: async () => {},
  };
});
